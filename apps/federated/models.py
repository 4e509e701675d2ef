from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from .aggregation import AGGREGATORS
from .attacks import ATTACKS
from .config import SETTING_NAMES, ConfigError, ExperimentConfig, experiment_config_validate
from .datasets import DATASETS
from .definitions import NAME_LENGTH, definition
from .nn import MODELS
from .partition import PARTITIONS
from .privacy import ACCOUNTANTS

sha256_hex = RegexValidator(r"^[0-9a-f]{64}$", "a SHA-256 digest in lowercase hex")


def _choices(names):
    return [(name, name) for name in names]


def _described(setting):
    """A setting's label and help as its definition (definitions.py) gives them to the form, the command line and
    the API: the admin shows the same words."""
    described = definition(setting)
    return {"verbose_name": described.label, "help_text": described.help}


def _hash_field(**kwargs):
    return models.CharField(max_length=64, validators=[sha256_hex], **kwargs)


class Experiment(models.Model):
    """A federated learning run: its settings (validated by `experiment_config_validate`) and its lifecycle."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        PAUSED = "paused"
        FINISHED = "finished"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Kind(models.TextChoices):
        SIMULATED = "simulated", "simulated by FedChain's workers"
        FLOWER = "flower", "external Flower federation"

    name = models.CharField(max_length=NAME_LENGTH, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SIMULATED, db_index=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="who declared it (external federations: whose API token submits its rounds)",
    )
    external = models.JSONField(
        default=dict, blank=True,
        help_text="an external federation's declaration: its key, layers, strategy and re-derivation rule (flower.py)",
    )
    dataset = models.CharField(**_described("dataset"), max_length=32, choices=_choices(DATASETS), default="digits")
    synthetic_samples = models.PositiveIntegerField(
        **_described("synthetic_samples"), default=ExperimentConfig.synthetic_samples
    )
    clients = models.PositiveIntegerField(**_described("clients"), default=ExperimentConfig.clients)
    rounds = models.PositiveIntegerField(**_described("rounds"), default=ExperimentConfig.rounds)
    partition = models.CharField(**_described("partition"), max_length=16, choices=_choices(PARTITIONS), default="iid")
    alpha = models.FloatField(**_described("alpha"), default=ExperimentConfig.alpha)
    classes_per_client = models.PositiveIntegerField(
        **_described("classes_per_client"), default=ExperimentConfig.classes_per_client
    )
    model = models.CharField(**_described("model"), max_length=16, choices=_choices(MODELS), default="softmax")
    hidden = models.JSONField(**_described("hidden"), default=list, blank=True)
    aggregator = models.CharField(
        **_described("aggregator"), max_length=16, choices=_choices(AGGREGATORS), default="fedavg"
    )
    trim_ratio = models.FloatField(**_described("trim_ratio"), default=ExperimentConfig.trim_ratio)
    byzantine = models.PositiveIntegerField(**_described("byzantine"), default=ExperimentConfig.byzantine)
    krum_select = models.PositiveIntegerField(**_described("krum_select"), default=ExperimentConfig.krum_select)
    fraction = models.FloatField(**_described("fraction"), default=ExperimentConfig.fraction)
    min_clients = models.PositiveIntegerField(**_described("min_clients"), default=ExperimentConfig.min_clients)
    local_epochs = models.PositiveIntegerField(**_described("local_epochs"), default=ExperimentConfig.local_epochs)
    batch_size = models.PositiveIntegerField(**_described("batch_size"), default=ExperimentConfig.batch_size)
    lr = models.FloatField(**_described("lr"), default=ExperimentConfig.lr)
    mu = models.FloatField(**_described("mu"), default=ExperimentConfig.mu)
    difficulty_bits = models.PositiveIntegerField(
        **_described("difficulty_bits"), default=ExperimentConfig.difficulty_bits
    )
    seed = models.PositiveBigIntegerField(**_described("seed"), default=ExperimentConfig.seed)
    baseline = models.BooleanField(**_described("baseline"), default=True)
    attack = models.CharField(**_described("attack"), max_length=16, choices=_choices(ATTACKS), default="none")
    malicious = models.PositiveIntegerField(**_described("malicious"), default=0)
    malicious_fraction = models.FloatField(**_described("malicious_fraction"), default=0.0)
    attack_scale = models.FloatField(**_described("attack_scale"), default=ExperimentConfig.attack_scale)
    dp = models.BooleanField(**_described("dp"), default=False)
    dp_clip = models.FloatField(**_described("dp_clip"), default=ExperimentConfig.dp_clip)
    dp_noise = models.FloatField(**_described("dp_noise"), default=ExperimentConfig.dp_noise)
    dp_delta = models.FloatField(**_described("dp_delta"), default=ExperimentConfig.dp_delta)
    dp_accountant = models.CharField(
        **_described("dp_accountant"), max_length=8, choices=_choices(ACCOUNTANTS), default=ExperimentConfig.dp_accountant
    )
    max_epsilon = models.FloatField(**_described("max_epsilon"), null=True, blank=True)
    rewards = models.BooleanField(**_described("rewards"), default=False)
    reward_per_sample = models.FloatField(**_described("reward_per_sample"), default=ExperimentConfig.reward_per_sample)
    mining_reward = models.FloatField(**_described("mining_reward"), default=ExperimentConfig.mining_reward)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"#{self.pk} {self.name or self.dataset}"

    def settings(self):
        return {name: getattr(self, name) for name in SETTING_NAMES}

    def config(self):
        """The validated, frozen settings the learning core runs on."""
        return experiment_config_validate(self.settings())

    def clean(self):
        try:
            config = self.config()
        except ConfigError as error:
            raise ValidationError(
                {name if name in SETTING_NAMES else NON_FIELD_ERRORS: messages for name, messages in error.errors.items()}
            ) from None
        for name, value in config.as_dict().items():
            setattr(self, name, value)


class Client(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="client_set")
    index = models.PositiveIntegerField()
    shard_size = models.PositiveIntegerField()
    label_counts = models.JSONField(help_text="samples of each class in the client's shard")
    external_id = models.CharField(
        max_length=40, blank=True, help_text="an external federation's name for the client (a Flower node id)"
    )
    # Known to the simulation only, for analysis: never on the chain.
    malicious = models.BooleanField(default=False, help_text="runs the experiment's attack")

    class Meta:
        ordering = ["experiment", "index"]
        constraints = [models.UniqueConstraint(fields=["experiment", "index"], name="client_unique_index")]

    def __str__(self):
        return f"client {self.index} of experiment {self.experiment_id}"


class Round(models.Model):
    """A recorded round. Round 0 is the seeded initial model; round r aggregates the updates trained from r-1."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="round_set")
    number = models.PositiveIntegerField()
    global_model_hash = _hash_field(db_index=True)  # search by model hash
    test_loss = models.FloatField()
    test_accuracy = models.FloatField()
    baseline_model_hash = _hash_field(blank=True)
    baseline_loss = models.FloatField(null=True, blank=True)
    baseline_accuracy = models.FloatField(null=True, blank=True)
    clients_sampled = models.PositiveIntegerField(default=0, help_text="clients chosen to train in this round")
    clients_dropped = models.PositiveIntegerField(
        default=0, help_text="sampled clients whose update had not come in at the round's deadline"
    )
    clients_accepted = models.PositiveIntegerField(default=0, help_text="updates the aggregator used")
    train_seconds = models.FloatField(default=0.0, help_text="sum of the clients' local training times")
    aggregate_seconds = models.FloatField(default=0.0)
    evaluate_seconds = models.FloatField(default=0.0)
    epsilon = models.FloatField(null=True, blank=True, help_text="privacy spent after this round, at dp_delta")
    # How the aggregator's rejections match the malicious clients (attacks.detection_rates); empty when there
    # was nothing to detect (no malicious update) or to spare (no honest one).
    true_positive_rate = models.FloatField(null=True, blank=True, help_text="malicious updates rejected, as a share")
    false_positive_rate = models.FloatField(null=True, blank=True, help_text="honest updates rejected, as a share")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["experiment", "number"]
        constraints = [models.UniqueConstraint(fields=["experiment", "number"], name="round_unique_number")]

    def __str__(self):
        return f"round {self.number} of experiment {self.experiment_id}"


class ClientUpdate(models.Model):
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="update_set")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="update_set")
    samples = models.PositiveIntegerField()
    update_hash = _hash_field(db_index=True)  # search by model hash
    train_loss = models.FloatField(null=True, blank=True, help_text="empty when training diverged")
    accepted = models.BooleanField()
    reason = models.CharField(max_length=300, blank=True, help_text="why the aggregator rejected it")
    worker = models.CharField(max_length=200, blank=True, help_text="the process that trained it")
    train_seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["round", "client"]
        constraints = [models.UniqueConstraint(fields=["round", "client"], name="client_update_unique")]

    def __str__(self):
        return f"update of client {self.client.index} in {self.round}"


class Blob(models.Model):
    """A model blob (blobs.py: serialized parameters), named by the SHA-256 of its bytes; see storage.py."""

    sha256 = _hash_field(primary_key=True)
    data = models.BinaryField()

    def __str__(self):
        return f"blob {self.sha256[:16]} ({len(self.data)} bytes)"


class RoundAudit(models.Model):
    """A round's audit against the block that holds its records, computed once and kept: an audit re-derives the
    round (reads every update blob, aggregates, evaluates), as costly as the round's aggregation, so readers see
    the kept result. `problems` is None while the audit runs."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="audit_set")
    block_hash = models.CharField(max_length=64, help_text="the main-chain block the round's records were in")
    block_height = models.PositiveIntegerField()
    problems = models.JSONField(null=True, blank=True, help_text="empty when the round checks out")
    rule = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    audited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["round", "block_hash"], name="round_audit_unique_block")]

    def __str__(self):
        return f"audit of {self.round} in block {self.block_height}"
