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
            summary="BERT masked language modelling (Devlin et al. 2019): 15 % of tokens, 80/10/10; masking=token|whole_word|span",
            signal="masked tokens",
            negatives="none",
            default_encoder="bert",
        ),
        TaskSpec(
            "clm",
            domain="nlp",
            paradigm=Paradigm.GENERATIVE,
            factory="sslcore_nlp.tasks.clm:CausalLanguageModeling",
            summary="causal language modelling (Radford et al. 2018): next token with a causal mask, tied LM head",
            signal="next token",
            negatives="none",
            default_encoder="bert",
        ),
        TaskSpec(
            "electra",
            domain="nlp",
            paradigm=Paradigm.ADVERSARIAL,
            factory="sslcore_nlp.tasks.electra:Electra",
            summary="ELECTRA replaced-token detection (Clark et al. 2020): 1/4-size MLM generator, L_MLM + 50 L_disc",
            signal="replaced tokens",
            negatives="none",
            default_encoder="electra",
        ),
        # -- generative and generative-contrastive tasks (masking variants, causal LM, ELECTRA) --
        TaskSpec(
            "simcse",
            domain="nlp",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_nlp.tasks.simcse:SimCSE",
            summary="unsupervised SimCSE (Gao et al. 2021): two dropout views of a sentence, in-batch InfoNCE, tau 0.05",
            signal="identity of a sentence under two dropout masks",
            family="instance-instance",
            negatives="end-to-end",
            default_encoder="bert",
        ),
        TaskSpec(
            "sop",
            domain="nlp",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_nlp.tasks.pair_prediction:SentenceOrderPrediction",
            summary="ALBERT sentence order prediction (Lan et al. 2020): two consecutive segments, in order or swapped",
            signal="order of two consecutive segments",
            family="context-instance",
            negatives="none",
            default_encoder="bert",
        ),
        TaskSpec(
            "nsp",
            domain="nlp",
            paradigm=Paradigm.CONTRASTIVE,
            factory="sslcore_nlp.tasks.pair_prediction:NextSentencePrediction",
            summary="BERT next sentence prediction (Devlin et al. 2019): true next segment or one from another text",
            signal="whether segment B follows segment A",
            family="context-instance",
            negatives="none",
            default_encoder="bert",
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
