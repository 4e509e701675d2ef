from django.apps import AppConfig


class NetworkConfig(AppConfig):
    name = "apps.network"
    label = "network"

    def chain_verify_notes(self):
        """What verify_chain adds to its report: peers holding another chain with at least as much work."""
        from .selectors import disagreement_notes

        return disagreement_notes()
