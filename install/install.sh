#!/usr/bin/env bash
# Builds dbx-cred and dbx-credd from this checkout and installs them for the
# current user, then sets dbx-credd up as a per-user service where the
# machine has a user service manager (systemd --user, launchd).
#
#   install/install.sh [--prefix DIR] [--no-service] [--no-completion]
set -euo pipefail

prefix="${HOME:?HOME is not set}/.local/bin"
service=1
completion=1

usage() {
  cat <<USAGE
Usage: install/install.sh [--prefix DIR] [--no-service] [--no-completion]

Builds dbx-cred and dbx-credd (go build -trimpath) and copies them to DIR
(default: ~/.local/bin), with git-credential-dbx-cred next to dbx-cred (a
link; a copy on Windows), the name git runs for credential.helper dbx-cred.
Installs shell completion where bash, zsh and fish look for it, and says
how for PowerShell. Then, if a systemd user manager (Linux) or launchd
(macOS) is available, runs "dbx-credd install" and "dbx-credd start" so the
daemon starts at every login; otherwise dbx-cred starts it on first use.

  --prefix DIR       where to put the binaries
  --no-service       do not install the service
  --no-completion    do not install shell completion
USAGE
}

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || { usage >&2; exit 64; }; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --no-service) service=0; shift ;;
    --no-completion) completion=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument \"$1\"" >&2; usage >&2; exit 64 ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v go >/dev/null || { echo "install.sh: Go is needed to build dbx-cred: https://go.dev/dl/" >&2; exit 1; }

version=$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)
ext=$( [ "$(go env GOOS)" = windows ] && echo .exe || true )
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "Building dbx-cred $version..."
(cd "$root" && CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X github.com/dbx-cred/dbx-cred/internal/version.Version=$version" \
  -o "$tmp/" ./cmd/dbx-cred ./cmd/dbx-credd)

mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)   # the service needs an absolute path
for b in dbx-cred dbx-credd; do
  # Copy then rename: a running dbx-credd keeps its old file, and nobody
  # ever runs a half-written one.
  install -m 0755 "$tmp/$b$ext" "$prefix/.$b$ext.new"
  mv -f "$prefix/.$b$ext.new" "$prefix/$b$ext"
done
# git runs "git-credential-dbx-cred" for credential.helper dbx-cred; the
# helper answers as "dbx-cred git" under that name. A relative link follows
# every later upgrade of dbx-cred; Windows gets a copy.
if [ -n "$ext" ]; then
  install -m 0755 "$tmp/dbx-cred$ext" "$prefix/.git-credential-dbx-cred$ext.new"
else
  ln -sfn "dbx-cred" "$prefix/.git-credential-dbx-cred.new"
fi
mv -f "$prefix/.git-credential-dbx-cred$ext.new" "$prefix/git-credential-dbx-cred$ext"
echo "Installed dbx-cred, dbx-credd and git-credential-dbx-cred in $prefix."

# Completion, each where its shell looks: bash-completion's per-user
# directory (loaded on demand), a zsh site-functions directory (zsh has no
# per-user default, so fpath must name it), fish's completions directory.
if [ "$completion" = 1 ]; then
  data=${XDG_DATA_HOME:-$HOME/.local/share}
  config=${XDG_CONFIG_HOME:-$HOME/.config}
  put_completion() { # shell file
    mkdir -p "$(dirname "$2")"
    "$tmp/dbx-cred$ext" completion "$1" > "$2.new" && mv -f "$2.new" "$2"
    echo "Installed $1 completion in $2."
  }
  put_completion bash "$data/bash-completion/completions/dbx-cred"
  put_completion zsh "$data/zsh/site-functions/_dbx-cred"
  put_completion fish "$config/fish/completions/dbx-cred.fish"
  echo "  zsh: add to ~/.zshrc, before compinit: fpath=(\"$data/zsh/site-functions\" \$fpath)"
  echo "  PowerShell: add to \$PROFILE: dbx-cred completion powershell | Out-String | Invoke-Expression"
fi

# Man pages, made from the same text as --help, where man(1) looks for a
# bin directory's pages (PREFIX/../share/man).
mandir="$(dirname "$prefix")/share/man/man1"
if mkdir -p "$mandir" 2>/dev/null; then
  for b in dbx-cred dbx-credd; do
    "$tmp/$b$ext" __man > "$mandir/$b.1.new" && mv -f "$mandir/$b.1.new" "$mandir/$b.1"
  done
  echo "Installed the man pages dbx-cred(1) and dbx-credd(1) in $mandir."
fi

daemon="$prefix/dbx-credd$ext"
have_manager() {
  case "$(uname -s)" in
    Linux) command -v systemctl >/dev/null && systemctl --user show-environment >/dev/null 2>&1 ;;
    Darwin) launchctl print "gui/$(id -u)" >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

if [ "$service" = 1 ] && have_manager; then
  "$daemon" install
  if ! "$daemon" start; then
    echo "install.sh: the service is installed but did not start; \"$daemon status\" and its log say why." >&2
  fi
  "$daemon" status || true
elif [ "$service" = 1 ]; then
  echo
  echo "No user service manager here (systemd --user or launchd), so no service was installed."
  echo "dbx-cred starts the daemon itself on first use (DBX_CRED_NO_AUTOSTART=1 turns that off),"
  echo "or run it yourself: $daemon run &"
fi

echo
echo "Next steps:"
case ":$PATH:" in
  *":$prefix:"*) ;;
  *) echo "  export PATH=\"$prefix:\$PATH\"      # $prefix is not on your PATH yet" ;;
esac
echo "  dbx-cred login -p prod --host https://adb-1234567890123456.7.azuredatabricks.net"
echo "  dbx-cred token -p prod"
echo "  git config --global credential.helper dbx-cred    # git, for the hosts of your profiles"
echo "  dbx-cred --help"
