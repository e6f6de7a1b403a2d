#!/bin/sh
# Trunk's post-build hook (Trunk.toml): builds the researcher's page (research.html: the
# preview, the simulator, Check all, the data panel) with the same profile, and puts it
# beside the participant's page. Trunk builds one page per run, and a run replaces its
# whole output folder, so the second page is built into its own folder and copied in.
set -eu
case "$TRUNK_HTML_FILE" in
  *research.html) exit 0 ;; # the nested run itself
esac
out="target/research-dist"
if [ "$TRUNK_PROFILE" = release ]; then
  trunk build research.html --release --offline --dist "$out"
else
  trunk build research.html --offline --dist "$out"
fi
# Trunk names every page it writes index.html.
mv "$out/index.html" "$out/research.html"
cp "$out"/* "$TRUNK_STAGING_DIR"/
