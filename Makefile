# Light install: CPU torch + lmms-eval without torchvision/timm (see README "Installation").
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo bench card clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements/lmms-eval-light.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q --no-deps lmms-eval==0.7.3
	$(BIN)/pip install -q -r requirements/lmms-eval-light.txt
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/python -m siuo_task.demo

card: install
	$(BIN)/python -c "import siuo_dataset; from siuo_dataset.card import render_card; open('dataset_card.md', 'w').write(render_card(siuo_dataset.load_items('$${SIUO_DATA_DIR:-../shared/siuo}', allow_missing_images=True)))"

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
