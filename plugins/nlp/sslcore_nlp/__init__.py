"""sslcore-nlp: text plugin for sslcore (WordPiece tokenizers, BERT encoders, masked
language modelling, WikiText-2 / SST-2 and a stdlib-docstring demo dataset).

Importing this package is cheap: transformers and tokenizers load only when a
component is built.
"""

__version__ = "0.1.0"
