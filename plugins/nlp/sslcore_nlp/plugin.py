"""Registration hooks of sslcore-nlp. Factories are ``"module:attr"`` strings, so loading
the plugin imports neither transformers nor tokenizers."""

from __future__ import annotations

from functools import partial
from typing import Any

from sslcore import DatasetSpec, EncoderSpec, TaskSpec, hookimpl
from sslcore.recipes import Recipe


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
        f"{paper}, scaled to a tiny encoder and a CPU budget. Measured: docs/benchmarks.md, 'NLP plugin "
        f"methods on WikiText-2' (benchmarks/nlp_methods.py): {average} mean linear probe accuracy over MR, CR, MPQA and SST-2, 3 seeds"
    )


def _task(name: str, factory: str, summary: str, recipe: Recipe, default_encoder: str = "bert") -> TaskSpec:
    return TaskSpec(
        name, domain="nlp", factory=factory, summary=summary, default_encoder=default_encoder, recipe=recipe
    )


def _dataset(name: str, factory: str, summary: str, **fields: Any) -> DatasetSpec:
    return DatasetSpec(name, domain="nlp", sample="sentence", factory=factory, summary=summary, **fields)


@hookimpl
def sslcore_register_tasks() -> list[TaskSpec]:
    return [
        _task(
            "mlm",
            "sslcore_nlp.tasks.mlm:MaskedLanguageModeling",
            "BERT masked language modelling (Devlin et al. 2019): 15 % of tokens, 80/10/10; masking=token|whole_word|span",
            _wikitext2(64, 2e-3, _measured("Devlin et al. 2019", "66.44 +- 1.18"), mask_prob=0.15),
        ),
        _task(
            "clm",
            "sslcore_nlp.tasks.clm:CausalLanguageModeling",
            "causal language modelling (Radford et al. 2018): next token with a causal mask, tied LM head",
            _wikitext2(64, 2e-3, _measured("Radford et al. 2018; MLM's batch and rate", "67.70 +- 0.46")),
        ),
        _task(
            "electra",
            "sslcore_nlp.tasks.electra:Electra",
            "ELECTRA replaced-token detection (Clark et al. 2020): 1/4-size MLM generator, L_MLM + 50 L_disc",
            _wikitext2(
                64,
                2e-3,
                _measured(
                    "Clark et al. 2020; the discriminator is the tiny BERT of the other tasks (equal compute), "
                    "MLM's batch and rate",
                    "64.23 +- 0.19",
                ),
                encoder="bert",
            ),
            default_encoder="electra",
        ),
        _task(
            "simcse",
            "sslcore_nlp.tasks.simcse:SimCSE",
            "unsupervised SimCSE (Gao et al. 2021): two dropout views of a sentence, in-batch InfoNCE, tau 0.05",
            _wikitext2(64, 5e-4, _measured("Gao et al. 2021", "66.27 +- 0.50")),
        ),
        _task(
            "sop",
            "sslcore_nlp.tasks.pair_prediction:SentenceOrderPrediction",
            "ALBERT sentence order prediction (Lan et al. 2020): two consecutive segments, in order or swapped",
            _wikitext2(32, 1e-3, _measured("Lan et al. 2020", "63.17 +- 0.97")),
        ),
        _task(
            "nsp",
            "sslcore_nlp.tasks.pair_prediction:NextSentencePrediction",
            "BERT next sentence prediction (Devlin et al. 2019): true next segment or one from another text",
            _wikitext2(32, 1e-3, _measured("Devlin et al. 2019", "62.32 +- 1.84")),
        ),
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
    ]


@hookimpl
def sslcore_register_datasets() -> list[DatasetSpec]:
    return [
        _dataset(
            "wikitext2",
            "sslcore_nlp.data.wikitext2:wikitext2",
            "WikiText-2 (valid split) paragraphs packed into blocks to pretrain; SST-2 train/val/test to probe",
        ),
        _dataset(
            "pydocs",
            "sslcore_nlp.data.pydocs:pydocs",
            "stdlib docstring paragraphs, 8 topic classes; ships with Python (demo)",
            needs_root=False,
        ),
        _dataset(
            "text-files",
            "sslcore_nlp.data.text_corpus:text_files",
            "your plain text files (explicit encoding), packed blocks or one sample per line; optional SentEval probe",
        ),
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
