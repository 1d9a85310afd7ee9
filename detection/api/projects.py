"""Project endpoints, thin: access from detection.access, writes from detection.services."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from detection import services
from detection.access import Need, check_access, projects_for
from detection.api.serializers import ProjectInputSerializer, ProjectOutputSerializer
from detection.models import Membership


def _roles(user) -> dict[int, str]:
    return dict(Membership.objects.filter(user=user).values_list("project_id", "role"))


class ProjectListView(APIView):
    @extend_schema(responses=ProjectOutputSerializer(many=True))
    def get(self, request):
        projects = projects_for(request.user)
        data = ProjectOutputSerializer(
            projects, many=True, context={"roles": _roles(request.user)}
        ).data
        return Response(data)

    @extend_schema(request=ProjectInputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request):
        given = ProjectInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        project = services.project_create(owner=request.user, **given.validated_data)
        out = ProjectOutputSerializer(project, context={"roles": {project.pk: "owner"}})
        return Response(out.data, status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    @extend_schema(responses=ProjectOutputSerializer)
    def get(self, request, project_id: int):
        membership = check_access(request.user, project_id)
        return Response(self._out(membership))

    @extend_schema(request=ProjectInputSerializer(partial=True), responses=ProjectOutputSerializer)
    def patch(self, request, project_id: int):
        membership = check_access(request.user, project_id, Need.WRITE)
        given = ProjectInputSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        services.project_update(project=membership.project, **given.validated_data)
        return Response(self._out(membership))

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int):
        membership = check_access(request.user, project_id, Need.MANAGE)
        membership.project.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @staticmethod
    def _out(membership: Membership) -> dict:
        context = {"roles": {membership.project_id: membership.role}}
        return ProjectOutputSerializer(membership.project, context=context).data
