#!/usr/bin/env bash
# The live model with a tied 1/8 -> 1/4 step and mirrored borders (issue 29), started from
# trained/fast (step 12,000). Run again with --resume to continue after an interruption.
cd "$(dirname "$0")/../.."
SK=$(python -c "import skimage, os; print(os.path.dirname(skimage.__file__))")/data
STUDIO_WEIGHTS_DIR=${STUDIO_WEIGHTS_DIR:-../shared/data/weights} exec offline fast train \
  --content ../shared/data/images/content --content $SK/astronaut.png --content $SK/coffee.png \
  --content $SK/chelsea.png --content $SK/rocket.jpg --content $SK/motorcycle_left.png \
  --style ../shared/data/images/style --steps ${STEPS:-14000} --batch 4 --size 128 --style-weight 12 --lr 0.0005 \
  --scale-weight 0.25 --temporal-weight 150 --teacher trained/adain-relu3_1 --distill-weight 150 --lattice-weight 400000 \
  --up resize --padding reflect --init trained/fast --out runs/fast-v2/model --checkpoint-every 100 --log-every 25 \
  --exclude adain_cornell --exclude adain_golden_gate --exclude lomiri_Bridge --exclude ocv_baboon \
  --exclude ocv_fruits --exclude fst_stata --exclude asheville --exclude en_campo_gris --exclude the_scream \
  --exclude woman_with_hat_matisse --exclude trial "$@"
