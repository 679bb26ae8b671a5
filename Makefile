# irodori: the two commands of the README, and the scripts that rebuild what we ship.
PYTHON ?= python3
VENV ?= .venv
PIP := $(VENV)/bin/pip
PY := $(VENV)/bin/python
# Every install goes through constraints.txt: it pins torch so pip takes the CPU wheel.
PIP_INSTALL := $(PIP) install --quiet --disable-pip-version-check -c constraints.txt
# The art sources of the full corpus (docs/DATA-full.md): what the manga model trains on.
MANGA_SOURCES := wesnoth wesnoth-campaigns openclipart gcompris-cartoons naev flare 0ad-portraits
# The art sources of the paint model (docs/MANGA_MODE.md): the manga sources but 0ad (a 1.4 GB package), plus openmoji.
ART_SOURCES := wesnoth openclipart gcompris-cartoons naev flare openmoji wesnoth-campaigns
comma := ,
space := $(empty) $(empty)

.PHONY: demo test corpus corpus-full corpus-art pack pack-gpu train-gpu train-general train-manga train-paint finetune-demo eval bench clean

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

## corpus-full: every source into data/corpus-full, its card, the evaluation sets data/eval (test split) and data/eval-val (val split, for tuning); needs cairosvg
corpus-full: $(PY)
	$(PIP_INSTALL) -e ".[train,corpus]"
	$(PY) scripts/build_corpus.py --sources full --out data/corpus-full --card docs/DATA-full.md --eval data/eval
	$(PY) scripts/build_corpus.py --sources full --out data/corpus-full --no-build --eval data/eval-val --eval-split val

## pack: the full corpus and the evaluation sets as <= 60 MB tar shards, to carry to a GPU machine
pack: $(PY)
	$(PY) scripts/build_corpus.py --out data/corpus-full --no-build --pack data/packed/corpus-full
	$(PY) scripts/build_corpus.py --out data/eval --no-build --pack data/packed/eval

## pack-gpu: as much of data/corpus-art as fits beside the code in a GPU call's 64 MiB tree, into data/gpu (docs/GPU.md)
pack-gpu: $(PY)
	$(PY) scripts/train_gpu.py --pack

## train-gpu: on the lent GPU machine (carry data/gpu): train paint for 8.5 min, export, results into $$OUT (docs/GPU.md)
train-gpu:
	PYTHONUNBUFFERED=1 PYTHONPATH=src $(PYTHON) scripts/train_gpu.py --out "$${OUT:-runs/gpu-out}"

## train-general: train the default model on the full corpus in two stages (make corpus-full first; 2-core CPU: about 50 + 30 min)
train-general: $(PY)
	$(PIP_INSTALL) -e ".[train]"
	$(VENV)/bin/irodori train data/corpus-full/train --val data/corpus-full/val --preset default --out runs/general-stage1
	$(VENV)/bin/irodori train data/corpus-full/train --val data/corpus-full/val --init runs/general-stage1 \
		--preset general-refine --out runs/general

## train-manga: the manga model: general's weights, trained on the corpus's art rendered as manga pages
train-manga: $(PY)
	$(PIP_INSTALL) -e ".[train]"
	$(VENV)/bin/irodori train $(addprefix data/corpus-full/train/,$(MANGA_SOURCES)) \
		--val data/corpus-full/val --init runs/general --preset manga --out runs/manga

## corpus-art: the art sources (data/corpus-art), photos (data/corpus-photos), the paint evaluation sets (data/eval-paint, -val) and the OpenMoji line-art training pairs (data/pairs); needs cairosvg
corpus-art: $(PY)
	$(PIP_INSTALL) -e ".[train,corpus]"
	$(PY) scripts/build_corpus.py --sources $(subst $(space),$(comma),$(ART_SOURCES)) --out data/corpus-art
	$(PY) scripts/build_corpus.py --sources endless-sky,skimage,pypi-samples --out data/corpus-photos
	$(PY) scripts/build_paint_evalsets.py --split test
	$(PY) scripts/build_paint_evalsets.py --split val
	$(PY) scripts/build_paint_evalsets.py --split train

## train-paint: the paint-mode manga model in five stages from manga (docs/models/manga.md; 2-core CPU: about 30 + 17 + 31 + 32 + 8 min)
train-paint: $(PY)
	$(PIP_INSTALL) -e ".[train]"
	test -d data/pairs/openmoji || $(MAKE) corpus-art
	$(VENV)/bin/irodori train data/corpus-art/train --val data/corpus-art/val --preset paint --init manga \
		--out runs/paint --steps=1200 --threads=1
	$(VENV)/bin/irodori train data/corpus-art/train --val data/corpus-art/val --preset paint --init runs/paint \
		--out runs/paint2 --steps=1800 --stop-at-step 750 --threads=1 --data.lineart_share=0.35 \
		--optim.lr=0.0003 --optim.warmup_steps=50
	$(VENV)/bin/irodori train data/corpus-art/train --pairs data/pairs/openmoji --val data/corpus-art/val \
		--preset paint --init runs/paint2 --out runs/paint3 --steps=1500 --threads=1 --data.lineart_share=0.3 \
		--optim.lr=0.0003 --optim.warmup_steps=50
	$(VENV)/bin/irodori train data/corpus-art/train --pairs data/pairs/openmoji --val data/corpus-art/val \
		--preset paint --init runs/paint3 --out runs/paint4 --steps=2000 --threads=1 --data.lineart_share=0.3 \
		--optim.lr=0.0002 --optim.warmup_steps=50
	$(PY) scripts/probe_l_head.py --model runs/paint4 --out runs/lprobe-pages --loss l2 --steps 600 --lr 3e-4 \
		--crop 256 --scale-min 1.0 --batch 8 --data paint_prob=1.0 --data lineart_share=0 --data 'pair_dirs=[]'
	$(PY) scripts/probe_l_head.py --model runs/lprobe-pages --head line-art --out runs/manga-heads --loss l2 \
		--steps 600 --lr 3e-4 --crop 256 --scale-min 1.0 --batch 8 --data paint_prob=0.8 --data lineart_share=0.3 \
		--data 'pair_dirs=["data/pairs/openmoji"]'

## finetune-demo: fine-tune manga on one art style and score that style's held-out pages (docs/FINETUNE.md)
finetune-demo: $(PY)
	$(PIP_INSTALL) -e ".[train,eval]"
	$(PY) scripts/finetune_demo.py --source openmoji --steps 300 --write docs/FINETUNE.md

## eval: every figure of the model cards, docs/FD.md, docs/HINTS.md's test table, docs/MANGA_MODE.md's paint tables and docs/REFERENCE.md's table (test split; evaluation sets, rebuilt with the full corpus if missing)
eval: $(PY)
	$(PIP_INSTALL) -e ".[train,dev,eval]"
	test -d data/corpus/test || $(PY) scripts/build_corpus.py --out data/corpus --card docs/DATA.md
	test -d data/eval/manga || $(MAKE) corpus-full
	$(PY) scripts/evaluate_models.py
	$(PY) scripts/fd_calibration.py
	$(PY) scripts/evaluate_hints.py
	test -d data/eval-paint/pages || $(MAKE) corpus-art
	$(PY) scripts/evaluate_detector.py --sets data/eval-paint --write docs/MANGA_MODE.md --json docs/detector-eval.json
	$(PY) scripts/evaluate_paint.py --sets data/eval-paint --json docs/models/manga-paint-eval.json \
		--write docs/MANGA_MODE.md --write docs/models/manga.md --sheets docs/images
	$(PY) scripts/evaluate_paint.py --sets data/eval-paint --model manga-int8 \
		--json docs/models/manga-int8-paint-eval.json --write docs/models/manga-int8.md
	$(PY) scripts/lettering_check.py --renders data/corpus-art/val --write docs/MANGA_MODE.md
	test -d data/eval-reference/panels-tint || $(PY) scripts/build_reference_evalsets.py --split test
	$(PY) scripts/evaluate_reference.py --split test --json docs/reference-eval.json --write docs/REFERENCE.md \
		--sheet docs/images/reference-sheet.jpg

## bench: every figure of docs/BENCHMARKS.md (speed, memory, folder throughput, peers, training)
bench: $(PY)
	$(PIP_INSTALL) -e ".[train,dev,bench]"
	$(PY) benchmarks/bench.py --write docs/BENCHMARKS.md --json docs/benchmarks.json

clean:
	rm -rf out build dist src/*.egg-info .pytest_cache
