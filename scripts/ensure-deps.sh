#!/usr/bin/env bash
# Installs the Debian packages FaceKit builds and runs with, if any is missing.
# As root it installs them; otherwise it names them and stops, because a
# silent partial setup would fail later with a far less clear message.
set -euo pipefail

packages=(
  libopencv-dev opencv-data          # OpenCV 4.6: imgproc, objdetect, dnn; Haar cascades
  libdlib-dev libopenblas0-pthread   # dlib 19.24, with OpenBLAS as libblas (10x faster ResNet)
  libopenblas-dev liblapack-dev
  libjpeg-dev libpng-dev zlib1g-dev libsqlite3-dev  # what libdlib links against
  libwebp-dev libtiff-dev            # with libjpeg and libpng, FaceKit's own image codecs
  libssl-dev                         # SHA-256 of model files
  libhdf5-dev                        # Keras .h5 weight files (HDF5 1.10)
  libpq-dev                          # the PostgreSQL store's client (libpq)
  libfaiss-dev                       # the embedded store's ANN index (static faiss 1.7.3)
  libdnnl-dev                        # oneDNN 2.6: runs the layer graphs (Keras .h5), 2.5-3.5x faster convolutions than OpenCV's
  python3 python3-venv python3-pip   # model fetch from PyPI and its one-time conversions
  curl bzip2 ca-certificates         # model fetch from official URLs
  chromium                           # the web page's test in headless Chromium
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "FaceKit needs these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "facekit: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq "${missing[@]}" >&2
