"""What a job may ask of this deployment: its swarm, job-size scaling, and callbacks."""

from __future__ import annotations

from ocr_ray.exceptions import UsageError
from ocr_ray.params import JobParams
from serve.keys import BOOTSTRAP_USER, Principal
from serve.settings import ServeSettings
from serve.webhooks.allowlist import parse_hosts, vet


def check_request(params: JobParams, settings: ServeSettings, user: Principal) -> None:
    """``UsageError`` naming the field for what this deployment cannot do."""
    if params.use_swarm and not settings.swarm:
        raise UsageError("use_swarm: this API does not run on a Docker swarm")
    if params.auto_scale and params.use_swarm is False:
        raise UsageError("auto_scale: scaling needs the swarm, which use_swarm: false declines")
    if params.auto_scale and not settings.autoscale:
        raise UsageError(
            "auto_scale: this deployment does not scale workers to jobs "
            "(its operator has not set OCR_RAY_AUTOSCALE=1)"
        )
    if params.callback_url:
        if user.user == BOOTSTRAP_USER:
            raise UsageError(
                "callback_url: the bootstrap key has no webhook secret; "
                "use a key made by `ocr-ray keys create`"
            )
        vet(params.callback_url, parse_hosts(settings.callback_hosts))


def scales(params: JobParams, settings: ServeSettings) -> bool:
    """Whether the job's size sets the number of swarm workers."""
    return settings.autoscale and params.auto_scale is not False and params.use_swarm is not False
