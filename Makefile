# liqe-repro: `make help` lists the targets.
PY := .venv/bin/python
export HF_HUB_OFFLINE ?= 1

.PHONY: help setup test reproduce rehearse-paper bench bench-gpu bench-peer bench-learn lock
# Batch runs of the notebooks keep progress bars out of their outputs (nbval compares outputs).
NB_ENV := TQDM_DISABLE=1

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup:  ## create .venv with the pinned environment and install liqe_lib
	bash env/setup.sh

test:  ## unit tests, then nbval re-executes the committed smoke notebooks and compares their outputs
	$(PY) -m pytest
	$(NB_ENV) $(PY) -m pytest --nbval notebooks/ --nbval-sanitize-with notebooks/sanitize.cfg -p no:cacheprovider

reproduce:  ## run every notebook in the smoke profile (results/smoke/, and the committed notebooks/)
	$(NB_ENV) .venv/bin/liqe reproduce --profile smoke

STANDIN ?= /tmp/liqe-standin
rehearse-paper:  ## the paper profile's notebooks on stand-in releases with ViT-B-32 and ResNet-34 (random weights as `openai`/ImageNet; LABELS=dir of official label files offline)
	.venv/bin/liqe data standin --data-root $(STANDIN)/data --hf-home $(STANDIN)/hf --torch-home $(STANDIN)/torch \
	    $(if $(LABELS),--official-labels $(LABELS))
	HF_HOME=$(STANDIN)/hf TORCH_HOME=$(STANDIN)/torch $(NB_ENV) .venv/bin/liqe reproduce --profile paper --rehearsal --data-root $(STANDIN)/data \
	    --out $(STANDIN)/results --runs-dir $(STANDIN)/runs

bench:  ## speed and memory benchmarks -> results/benchmarks/*.json
	cd benchmarks && ../$(PY) scoring.py && ../$(PY) text_tower.py && ../$(PY) loader.py && ../$(PY) train_step.py
	$(PY) benchmarks/paper_loop.py --arch liqe-tiny --workers 0 2 --epochs 1 --steps 8 --warmup 2 --repeat 3
	cd benchmarks && ../$(PY) score_folder.py

bench-peer:  ## liqe score vs IQA-PyTorch liqe_mix (pyiqa in .venv-peer) -> results/benchmarks/peer.json
	benchmarks/peer_env.sh
	cd benchmarks && ../.venv-peer/bin/python peer.py

bench-gpu:  ## the GPU figures (CUDA machine): scoring model path and folder end to end, training step and loop
	cd benchmarks && ../$(PY) score_folder.py --device cuda && ../$(PY) train_step.py --device cuda --repeat 10
	$(PY) benchmarks/paper_loop.py --device cuda --workers 0 8
	benchmarks/peer_env.sh && cd benchmarks && ../.venv-peer/bin/python peer.py --device cuda

bench-learn:  ## evidence that it learns: liqe-tiny from random init on the synthetic set (<= 10 min on 2 CPU cores)
	$(PY) benchmarks/learn.py

lock:  ## regenerate env/requirements.lock from the current .venv (setuptools pinned: clip-anytorch needs its pkg_resources)
	$(PY) -m pip freeze --all --exclude-editable | grep -v -E '^(liqe-repro|pip)==' > env/requirements.lock
