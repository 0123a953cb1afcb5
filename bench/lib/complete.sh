# Sourced by the scripts that commit growing logs (bench/lib/snapshot.sh, the experiments' commit.sh):
#   complete_log SRC DEST.gz
# writes SRC's complete lines only (a record still being written is left for the next snapshot),
# compressed reproducibly (gzip -n: no name or time stamp, so an unchanged log commits unchanged).
complete_log() {
    mkdir -p "$(dirname "$2")"
    python3 -c 'import sys; d=open(sys.argv[1]).read(); sys.stdout.write(d[: d.rfind("\n") + 1])' "$1" \
        | gzip -9n > "$2"
}
