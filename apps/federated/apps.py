from django.apps import AppConfig


class FederatedConfig(AppConfig):
    name = "apps.federated"
    label = "federated"
