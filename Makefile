# Two commands do the whole set-up on a fresh machine with Python 3.11:
#   make demo   virtual environment, install, train a small character LM, track, export, sample
#   make test   the test suite (TensorFlow backend, then the core again on JAX without TensorFlow)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The shared datasets (see ../shared/data/README.md); override to use your own copy.
KERASSEQ_DATA_DIR ?= $(abspath ../shared/data)
export KERASSEQ_DATA_DIR
export TF_CPP_MIN_LOG_LEVEL ?= 2
# Test processes (pytest-xdist; one test file stays in one process): the CI machine's 2 cores.
# (A third for the TensorFlow suite measured 1,589 s on a warm clone but 1,870 s on a clean one,
# against 1,667 s with two: no clear gain.)
TEST_WORKERS ?= 2
JAX_TESTS := tests/layers tests/losses tests/models tests/metrics tests/test_decoding.py tests/test_optimizers.py tests/test_boxes.py \
  tests/diagnostics/test_vision.py tests/tasks/test_trajectories_task.py tests/tasks/test_forecast_task.py \
  tests/data/test_forecasting_data.py tests/data/test_image_pydataset.py tests/tasks/test_treebank_task.py \
  tests/diagnostics/test_tree_plots.py tests/tasks/test_captioning_task.py tests/data/test_flickr8k.py \
  tests/data/test_daquar.py tests/tasks/test_vqa_task.py \
  tests/data/test_weizmann.py tests/tasks/test_video_task.py tests/tasks/test_nowcast_jax.py tests/benchmarks \
  tests/data/test_handwriting_data.py tests/tasks/test_handwriting_task.py tests/tasks/test_handwriting_synthesis_task.py \
  tests/data/test_binarized_mnist.py tests/tasks/test_pixelcnn_task.py

.PHONY: install demo test clean

$(BIN)/kerasseq: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,jax,server]"
	@# PostgreSQL for the team tracking server's test (skipped without it): installed where we may.
	@if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql) \
	      || echo "Could not install PostgreSQL: its test will be skipped."; \
	  else echo "PostgreSQL (initdb) not found and not root: its test will be skipped."; fi; \
	fi
	@# WordNet 3.0 for WUPS (DAQUAR question answering; its tests are skipped without it).
	@if [ ! -d /usr/share/wordnet ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wordnet-base) \
	      || echo "Could not install wordnet-base: the WUPS tests will be skipped."; \
	  else echo "WordNet (/usr/share/wordnet) not found and not root: the WUPS tests will be skipped."; fi; \
	fi
	touch $@

install: $(BIN)/kerasseq

demo: install
	$(BIN)/kerasseq train charlm --run_dir runs/demo --epochs 1 --units 256
	$(BIN)/kerasseq sample charlm --run_dir runs/demo --prompt "\n" --length 300 --temperature 0.8
	@echo
	@echo "Tracked in MLflow:  $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db   (http://127.0.0.1:5000)"
	@echo "Plots and samples:  runs/demo/artifacts/"
	@echo "Exported:           runs/demo/export/model.keras and runs/demo/export/saved_model/"
	@echo "Full run (README):  $(BIN)/kerasseq train charlm"

test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=30 tests notebooks --nbmake
	KERAS_BACKEND=jax KERASSEQ_TEST_NO_TENSORFLOW=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=20 $(JAX_TESTS)

clean:
	rm -rf $(VENV) runs mlflow.db mlruns mlartifacts
