#!/usr/bin/env bash
# The GPU check: the CUDA paths end to end and the GPU figures, in one run of at most ~8 minutes.
#   bash scripts/gpu_check.sh            (results under $OUT, else runs/gpu_check)
# On the device machine, packages its image lacks travel as wheels in .whl/ (albumentations, OmegaConf,
# facenet-pytorch and their needs); they are installed into /tmp/site first.
set -uo pipefail
OUT=${OUT:-runs/gpu_check}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site || exit 1
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" NO_ALBUMENTATIONS_UPDATE=1 WANDB_MODE=disabled PYTHONUNBUFFERED=1
export FRONTALIZE_BENCH_CACHE=/tmp/bench_cache
RUNS=${GPU_CHECK_RUNS:-/tmp/gpu_runs}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/nvidia_smi.csv"
python3 -c "import torch, albumentations, omegaconf, skimage, numpy, cv2; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0), 'albumentations', albumentations.__version__, 'skimage', skimage.__version__, 'numpy', numpy.__version__, 'cv2', cv2.__version__)" | tee "$OUT/versions.txt"
date -u +%FT%TZ > "$OUT/date.txt"

# 1. the training loop end to end on CUDA at 224 px, paper width (data loading, samples, checkpoints), then resume
python3 -c "from frontalize.bench.gpu import prepared_tiny; print(prepared_tiny(224))" || exit 1
GAN=(--setting 1_4 --paper --quiet data.prepared=$FRONTALIZE_BENCH_CACHE/prepared_tiny_224 data.size=224 data.workers=4
     data.val_subjects=0 train.runs_dir=$RUNS train.checkpoint_every=3 train.sample_every=3 train.eval_every=1000 train.log_every=1
     ${GPU_CHECK_EXTRA:-})
{ timeout 100 python3 scripts/train_gan.py "${GAN[@]}" train.steps=6 \
  && timeout 60 python3 scripts/train_gan.py "${GAN[@]}" train.steps=8 --resume; echo "train_gan exit $?"; } 2>&1 | tee "$OUT/train_gan.txt"
cp "$(ls -d $RUNS/gan/*/ | head -1)metrics.jsonl" "$OUT/train_gan_metrics.jsonl" 2>/dev/null

# 2. the figures: the GAN step in every precision, the recognizer, inference (each in its own process)
timeout 400 python3 scripts/benchmark.py gpu_gan_bf16_images_per_s gpu_gan_fp32_images_per_s gpu_recognizer_images_per_s gpu_infer_images_per_s gpu_gan_fp16_images_per_s gpu_gan_channels_last_images_per_s gpu_gan_compile_images_per_s \
  --json "$OUT/gpu.json" 2>&1 | tee "$OUT/benchmark.txt"
echo "gpu_check done"
