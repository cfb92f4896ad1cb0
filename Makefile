# Two commands for a newcomer:  make demo  (the main job)  and  make test.
# Both create .venv when missing and install the core and the three plugins (editable).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PLUGINS := plugins/vision plugins/nlp plugins/graph
# torch 2.14.1 / torchvision 0.29.1 are the builds pip finds on this machine's disk;
# any other version would download gigabytes.
TORCH  := torch==2.14.1 torchvision==0.29.1
# the venv takes about 6.5 GB (torch's CUDA build); a failed install says how much disk is free
DISK_HINT := echo "pip install failed; the venv needs about 6.5 GB of disk, free here:" >&2; df -h . >&2

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml plugins/*/pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH) || { $(DISK_HINT); exit 1; }
	$(BIN)/pip install --quiet -e '.[test]' $(addprefix -e ,$(PLUGINS)) || { $(DISK_HINT); exit 1; }
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sslcore compare --suite quick

test: $(STAMP)
	$(BIN)/ruff check sslcore plugins tests examples benchmarks
	$(BIN)/pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check sslcore plugins tests examples benchmarks
	$(BIN)/ruff format --check sslcore plugins tests examples benchmarks

clean:
	rm -rf $(VENV) runs
