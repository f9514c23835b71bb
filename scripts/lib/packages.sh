# Installing Debian packages, for the set-up scripts. Sourced, not run; the
# script that sources it defines `say`.

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root to run: $*"; exit 1
  fi
}

# Installs the Debian packages named, if any; without apt-get, says what to
# install (with the note given in APT_HINT, if set) and stops.
apt_install() {
  [ $# -eq 0 ] && return
  if ! command -v apt-get >/dev/null; then
    say "please install: $*${APT_HINT:+ ($APT_HINT)}, then run this again"
    exit 1
  fi
  say "installing system packages: $*"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
