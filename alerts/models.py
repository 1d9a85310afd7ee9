# Alert rules, alerts and their lifecycle, integrations and deliveries arrive with the alerts issue.
