#!/usr/bin/env bash
# `tools/stack/ensure-node.sh`: obtains (once, cached) the Node.js that CI runs the suite on and
# prints its bin folder, to put first on PATH. Any Node.js with npm bootstraps it: the binary comes
# from the npm registry's `node-linux-<arch>` package through `npm pack` (which checks the
# tarball's integrity), like every other tool, into
#
#   ${SOLAR_IOT_CACHE_DIR:-~/.cache/solar-iot}/node-<version>-linux-<arch>/bin/node
#
# The package holds the node binary only; npm and npx are the bootstrap's, which then run on it.
# SOLAR_IOT_NODE_VERSION picks another version (e.g. a 22.x to check the lowest supported major).
set -euo pipefail

version=${SOLAR_IOT_NODE_VERSION:-24.22.3}
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *)
    echo "no Node.js package for $(uname -m): put Node.js 22 or 24 on PATH instead" >&2
    exit 1
    ;;
esac
package="node-linux-${arch}"
cache=${SOLAR_IOT_CACHE_DIR:-${HOME}/.cache/solar-iot}
dir="${cache}/node-${version}-linux-${arch}"

if ! "${dir}/bin/node" --version >/dev/null 2>&1; then
  mkdir -p "${cache}"
  # Unpack next to the final folder and rename it into place: a crash or a concurrent run never
  # leaves a half-written node where the next run would use it.
  tmp=$(mktemp -d "${dir}.tmp.XXXXXX")
  trap 'rm -rf "${tmp}"' EXIT
  (cd "${tmp}" && npm pack --loglevel=error --no-fund "${package}@${version}" >/dev/null)
  tar -xzf "${tmp}/${package}-${version}.tgz" -C "${tmp}"
  "${tmp}/package/bin/node" --version >/dev/null
  rm -rf "${dir}"
  mv "${tmp}/package" "${dir}" || "${dir}/bin/node" --version >/dev/null
fi
# npm reads the machine's settings (cafile, proxy, registry) from <prefix>/etc/npmrc, its prefix
# being the folder of the node that runs it: with this node first on PATH that is ${dir}, where no
# npmrc is, and `npm install` behind a TLS-inspecting proxy failed (SELF_SIGNED_CERT_IN_CHAIN).
# So ${dir}/etc/npmrc links to the global npmrc of the npm that bootstraps it, if it has one.
npmrc="${dir}/etc/npmrc"
if [ ! -L "${npmrc}" ] && [ ! -e "${npmrc}" ]; then
  global=$(npm config get globalconfig 2>/dev/null || true)
  if [ -n "${global}" ] && [ "${global}" != "${npmrc}" ] && [ -f "${global}" ]; then
    mkdir -p "${dir}/etc"
    ln -sfn "${global}" "${npmrc}"
  fi
fi
echo "${dir}/bin"
