#!/usr/bin/env bash
# Installs the system packages the tests and benchmarks need on Debian: Chromium (which ships the SwiftShader
# CPU Vulkan driver that Dawn uses when there is no GPU, and is the browser for the puppeteer benchmarks)
# and the Vulkan loader. As root it installs them; otherwise it prints the command to run.
set -euo pipefail

packages=(chromium libvulkan1)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ! -f /usr/lib/chromium/vk_swiftshader_icd.json ] && [[ ! " ${missing[*]} " == *" chromium "* ]]; then
  missing+=(chromium)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages present: ${packages[*]}"
  exit 0
fi

command="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "missing system packages: ${missing[*]}" >&2
  echo "run as root: sudo sh -c '$command'" >&2
  exit 1
fi
