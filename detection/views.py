"""Dashboard pages. Thin: access from detection.access, writes from detection.services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token

from detection import services
from detection.access import check_access
from detection.forms import ProjectForm


@login_required
@require_http_methods(["GET", "POST"])
def project_list(request):
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = services.project_create(owner=request.user, **form.cleaned_data)
        messages.success(request, f"Project “{project.name}” created.")
        return redirect("project-detail", project_id=project.pk)
    memberships = request.user.memberships.select_related("project").order_by("project__name")
    template = "detection/project_list.html"
    if request.htmx:
        template += "#project-table"
    return render(request, template, {"memberships": memberships, "form": form})


@login_required
def project_detail(request, project_id: int):
    membership = check_access(request.user, project_id)
    members = membership.project.memberships.select_related("user").order_by("user__username")
    return render(
        request,
        "detection/project_detail.html",
        {"project": membership.project, "membership": membership, "members": members},
    )


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request):
    """The user's token for scripts: create (or replace) it, or revoke it."""
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            if services.api_token_revoke(user=request.user):
                messages.success(
                    request, "Your API token was revoked; scripts using it now get 401."
                )
        else:
            services.api_token_create(user=request.user)
            messages.success(request, "A new API token was created. Copy it now.")
        return redirect("api-token")
    token = Token.objects.filter(user=request.user).first()
    return render(request, "detection/api_token.html", {"token": token})
