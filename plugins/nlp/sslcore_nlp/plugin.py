"""Registration hooks of sslcore-nlp. Factories are ``"module:attr"`` strings, so loading
the plugin imports neither transformers nor tokenizers."""

from __future__ import annotations

from sslcore import DatasetSpec, EncoderSpec, Paradigm, TaskSpec, hookimpl


@hookimpl
def sslcore_register_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            "mlm",
            domain="nlp",
            paradigm=Paradigm.GENERATIVE,
            factory="sslcore_nlp.tasks.mlm:MaskedLanguageModeling",
            summary="BERT masked language modelling (Devlin et al. 2019): 15 % of tokens, 80/10/10 [MASK]/random/kept",
            signal="masked tokens",
            negatives="none",
            default_encoder="bert",
        ),
        # -- generative and generative-contrastive tasks (masking variants, causal LM, ELECTRA) --
        # -- contrastive tasks (SimCSE, sentence order, next sentence) --
    ]


@hookimpl
def sslcore_register_encoders() -> list[EncoderSpec]:
    return [
        EncoderSpec(
            "bert",
            domain="nlp",
            factory="sslcore_nlp.encoders.bert:bert",
            summary="transformers BertModel (preset tiny/small/base), mean or [CLS] pooling",
        ),
        # -- more encoders --
    ]


@hookimpl
def sslcore_register_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            "wikitext2",
            domain="nlp",
            sample="sentence",
            factory="sslcore_nlp.data.wikitext2:wikitext2",
            summary="WikiText-2 (valid split) paragraphs packed into blocks to pretrain; SST-2 train/val/test to probe",
        ),
        DatasetSpec(
            "pydocs",
            domain="nlp",
            sample="sentence",
            factory="sslcore_nlp.data.pydocs:pydocs",
            summary="stdlib docstring paragraphs, 8 topic classes; ships with Python (demo)",
            needs_root=False,
        ),
        # -- more datasets --
    ]
