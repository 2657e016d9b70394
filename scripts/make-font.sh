#!/usr/bin/env bash
# Makes crates/transformer-nb/assets/DejaVuSans-subset.ttf, the font the library draws PNG text
# with (plots must not depend on the fonts a machine happens to have).
#
# DejaVu Sans is the font matplotlib bundles, and what most Linux browsers pick for
# `sans-serif`, so a plot's PNG and SVG look alike. The subset keeps Latin (with Vietnamese:
# Latin Extended Additional and the combining marks), Greek, punctuation, arrows and maths
# operators: about a sixth of the full font. plotters draws glyph by glyph (no shaping, no
# kerning), so the layout tables are left out. Glyphs outside it draw as the font's .notdef box.
#
# Usage: scripts/make-font.sh   (needs Debian's fonts-dejavu-core and python3; fonttools comes
#                                from PyPI into a throwaway venv)
set -euo pipefail
cd "$(dirname "$0")/.."

source_font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
out=crates/transformer-nb/assets/DejaVuSans-subset.ttf
if [ ! -f "$source_font" ]; then
  echo "make-font: installing fonts-dejavu-core"
  apt-get install -y -qq fonts-dejavu-core >/dev/null
fi
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "fonttools==4.*"
# U+0020-024F Latin, U+0300-036F combining marks, U+0370-03FF Greek, U+1E00-1EFF Latin
# Extended Additional (Vietnamese), U+2000-206F punctuation, U+2070-209F super/subscripts,
# U+20AC euro, U+2190-21FF arrows, U+2200-22FF maths operators, U+25A0-25FF geometric shapes.
"$venv/bin/pyftsubset" "$source_font" \
  --unicodes="U+0020-007E,U+00A0-024F,U+0300-036F,U+0370-03FF,U+1E00-1EFF,U+2000-206F,U+2070-209F,U+20AC,U+2190-21FF,U+2200-22FF,U+25A0-25FF" \
  --layout-features='' --drop-tables+=MATH,GDEF,GPOS,GSUB,FFTM --no-hinting --notdef-outline --name-IDs='*' --name-legacy \
  --output-file="$out"
echo "make-font: wrote $out ($(wc -c <"$out") bytes)"
