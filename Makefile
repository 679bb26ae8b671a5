# irodori: the two commands of the README, and the scripts that rebuild what we ship.
PYTHON ?= python3
VENV ?= .venv
PIP := $(VENV)/bin/pip
PY := $(VENV)/bin/python
# Every install goes through constraints.txt: it pins torch so pip takes the CPU wheel.
PIP_INSTALL := $(PIP) install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test corpus corpus-full pack train-general ship-general eval bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

## demo: install the core package (no torch) and colour every image in examples/ into out/
demo: $(PY)
	$(PIP_INSTALL) .
	$(VENV)/bin/irodori colorize examples -o out --overwrite
	@echo "coloured images are in out/"

## test: install with the train, dev, cluster, web and eval extras and run the suite
test: $(PY)
	$(PIP_INSTALL) -e ".[train,dev,cluster,web,eval]"
	$(PY) -m pytest -q

## corpus: rebuild the open training corpus into data/corpus (downloads Debian/PyPI packages)
corpus: $(PY)
	$(PY) scripts/build_corpus.py --out data/corpus --card docs/DATA.md

## corpus-full: every source into data/corpus-full, its card and the evaluation sets data/eval (needs cairosvg)
corpus-full: $(PY)
	$(PIP_INSTALL) -e ".[train,corpus]"
	$(PY) scripts/build_corpus.py --sources full --out data/corpus-full --card docs/DATA-full.md --eval data/eval

## pack: the full corpus and the evaluation sets as <= 60 MB tar shards, to carry to a GPU machine
pack: $(PY)
	$(PY) scripts/build_corpus.py --out data/corpus-full --no-build --pack data/packed/corpus-full
	$(PY) scripts/build_corpus.py --out data/eval --no-build --pack data/packed/eval

## train-general: train the default model from scratch on the corpus (CPU: about an hour)
train-general: $(PY)
	$(PIP_INSTALL) -e ".[train]"
	$(VENV)/bin/irodori train data/corpus/train --val data/corpus/val --preset default --out runs/general

## eval: every figure of the model cards (test split; evaluation sets, rebuilt with the full corpus if missing)
eval: $(PY)
	$(PIP_INSTALL) -e ".[train,dev,eval]"
	test -d data/corpus/test || $(PY) scripts/build_corpus.py --out data/corpus --card docs/DATA.md
	test -d data/eval/manga || $(MAKE) corpus-full
	$(PY) scripts/evaluate_models.py

## bench: every figure of docs/BENCHMARKS.md (speed, memory, folder throughput, peers, training)
bench: $(PY)
	$(PIP_INSTALL) -e ".[train,dev,bench]"
	$(PY) benchmarks/bench.py --write docs/BENCHMARKS.md --json docs/benchmarks.json

clean:
	rm -rf out build dist src/*.egg-info .pytest_cache
