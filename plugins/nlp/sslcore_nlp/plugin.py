"""Registration hooks of sslcore-nlp. Factories are ``"module:attr"`` strings, so loading
the plugin imports neither transformers nor tokenizers."""

from __future__ import annotations

from functools import partial
from typing import Any

from sslcore import DatasetSpec, EncoderSpec, TaskSpec, hookimpl
from sslcore.recipes import Recipe

WIKITEXT = "docs/benchmarks.md, 'NLP plugin methods on WikiText-2' (benchmarks/nlp_methods.py)"


def _wikitext2(
    batch_size: int, lr: float, reference: str, encoder: str | None = None, **task_options: object
) -> Recipe:
    """The text benchmark's recipe: tiny BERT (mean pooling, dropout 0.1), an 8000-token
    WordPiece vocabulary trained on the WikiText-2 file, 64-token blocks, 900 s of
    pretraining, AdamW (weight decay 0.01), 5 % warm-up, cosine decay over the budget --
    with the task's batch, learning rate and options."""
    return Recipe(
        train={
            "seconds": 900,
            "batch_size": batch_size,
            "lr": lr,
            "optimizer": "adamw",
            "weight_decay": 0.01,
            "warmup": 0.05,
        },
        encoder=encoder,
        encoder_options={"preset": "tiny", "pooling": "mean", "dropout": 0.1},
        task_options=task_options,
        dataset="wikitext2",
        dataset_options={"vocab_size": 8000, "max_length": 64},
        reference=reference,
    )


def _measured(paper: str, average: str) -> str:
    return (
        f"{paper}, scaled to a tiny encoder and a CPU budget. Measured: {WIKITEXT}: {average} mean "
        "linear probe accuracy over MR, CR, MPQA and SST-2, 3 seeds"
    )


@hookimpl
def sslcore_register_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            "mlm",
            domain="nlp",
            factory="sslcore_nlp.tasks.mlm:MaskedLanguageModeling",
            summary="BERT masked language modelling (Devlin et al. 2019): 15 % of tokens, 80/10/10; masking=token|whole_word|span",
            default_encoder="bert",
            recipe=_wikitext2(64, 2e-3, _measured("Devlin et al. 2019", "66.44 +- 1.18"), mask_prob=0.15),
        ),
        TaskSpec(
            "clm",
            domain="nlp",
            factory="sslcore_nlp.tasks.clm:CausalLanguageModeling",
            summary="causal language modelling (Radford et al. 2018): next token with a causal mask, tied LM head",
            default_encoder="bert",
            recipe=_wikitext2(
                64, 2e-3, _measured("Radford et al. 2018; MLM's batch and rate", "67.70 +- 0.46")
            ),
        ),
        TaskSpec(
            "electra",
            domain="nlp",
            factory="sslcore_nlp.tasks.electra:Electra",
            summary="ELECTRA replaced-token detection (Clark et al. 2020): 1/4-size MLM generator, L_MLM + 50 L_disc",
            default_encoder="electra",
            recipe=_wikitext2(
                64,
                2e-3,
                _measured(
                    "Clark et al. 2020; the discriminator is the tiny BERT of the other tasks (equal compute), "
                    "MLM's batch and rate",
                    "64.23 +- 0.19",
                ),
                encoder="bert",
            ),
        ),
        # -- generative and generative-contrastive tasks (masking variants, causal LM, ELECTRA) --
        TaskSpec(
            "simcse",
            domain="nlp",
            factory="sslcore_nlp.tasks.simcse:SimCSE",
            summary="unsupervised SimCSE (Gao et al. 2021): two dropout views of a sentence, in-batch InfoNCE, tau 0.05",
            default_encoder="bert",
            recipe=_wikitext2(64, 5e-4, _measured("Gao et al. 2021", "66.27 +- 0.50")),
        ),
        TaskSpec(
            "sop",
            domain="nlp",
            factory="sslcore_nlp.tasks.pair_prediction:SentenceOrderPrediction",
            summary="ALBERT sentence order prediction (Lan et al. 2020): two consecutive segments, in order or swapped",
            default_encoder="bert",
            recipe=_wikitext2(32, 1e-3, _measured("Lan et al. 2020", "63.17 +- 0.97")),
        ),
        TaskSpec(
            "nsp",
            domain="nlp",
            factory="sslcore_nlp.tasks.pair_prediction:NextSentencePrediction",
            summary="BERT next sentence prediction (Devlin et al. 2019): true next segment or one from another text",
            default_encoder="bert",
            recipe=_wikitext2(32, 1e-3, _measured("Devlin et al. 2019", "62.32 +- 1.84")),
        ),
        # -- contrastive tasks (SimCSE, sentence order, next sentence) --
    ]


@hookimpl
def sslcore_register_encoders() -> list[EncoderSpec]:
    return [
        EncoderSpec(
            "bert",
            domain="nlp",
            factory="sslcore_nlp.encoders.bert:bert",
            summary="transformers BertModel (preset tiny/small/base or pretrained=<dir>), mean / [CLS] / last pooling",
        ),
        EncoderSpec(
            "electra",
            domain="nlp",
            factory="sslcore_nlp.encoders.electra:electra",
            summary="transformers ElectraModel (preset tiny/small/base, embeddings 128/128/768, or pretrained=<dir>), mean / [CLS] / last pooling",
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
        DatasetSpec(
            "text-files",
            domain="nlp",
            sample="sentence",
            factory="sslcore_nlp.data.text_corpus:text_files",
            summary="your plain text files (explicit encoding), packed blocks or one sample per line; optional SentEval probe",
        ),
        # -- more datasets --
    ]


@hookimpl
def sslcore_raw_features(bundle: Any) -> Any:
    """The raw-feature baseline of a text dataset: a bag of its tokenizer's tokens
    (:func:`sslcore_nlp.baselines.bag_of_tokens`)."""
    if bundle.domain != "nlp":
        return None
    from sslcore.compare.baselines import RawFeatures
    from sslcore_nlp.baselines import bag_of_tokens

    tokenizer = bundle.info.get("tokenizer")
    return RawFeatures(partial(bag_of_tokens, vocab_size=None if tokenizer is None else len(tokenizer)))


@hookimpl
def sslcore_export_extras(task: Any, info: Any, out_dir: Any) -> Any:
    """A ``transformers`` directory (:func:`sslcore_nlp.export.export_extras`)."""
    if getattr(getattr(task, "encoder", None), "model", None) is None:
        return None  # not a transformers encoder: transformers is not imported
    from sslcore_nlp.export import export_extras

    return export_extras(task, info, out_dir)
