"""Backbones, pooling and heads (layers come in as factories)."""

from spike_ssm.models.backbone import GatedOutput
from spike_ssm.models.backbone import pool
from spike_ssm.models.backbone import PositionalEncoding
from spike_ssm.models.backbone import SequenceBackbone
from spike_ssm.models.backbone import SequenceBatchNorm
from spike_ssm.models.backbone import SequenceModel
