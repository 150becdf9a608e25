#!/bin/sh
# Every MLXC_* environment variable is read through the one table in
# src/core/env.c: no getenv of an MLXC_ name elsewhere, every MLXC_ name
# quoted in src/ is a table entry, and the README's environment table lists
# every entry.  Usage: check_env.sh SOURCE_DIR
root=${1:-.}
cd "$root" || exit 2
fail=0
table=$(grep -oE '^ *\{"MLXC_[A-Z0-9_]+"' src/core/env.c | grep -oE 'MLXC_[A-Z0-9_]+' | sort -u)
[ -n "$table" ] || { echo "no table entries found in src/core/env.c"; exit 1; }

bad=$(grep -rnE 'getenv\("MLXC_' src tools | grep -v '^src/core/env\.c:')
if [ -n "$bad" ]; then
    echo "getenv of an MLXC_ variable outside src/core/env.c:"; echo "$bad"; fail=1
fi

# Quoted MLXC_ names in the sources, less the status names (mlxc_status_name).
for v in $(grep -rhoE '"MLXC_[A-Z0-9_]+"' src tools | tr -d '"' | grep -vE '^MLXC_(OK|ERR_[A-Z_]+)$' | sort -u); do
    echo "$table" | grep -qx "$v" || { echo "$v is named in src/ or tools/ but not in the table of src/core/env.c"; fail=1; }
done

for v in $table; do
    grep -qE "^\|.*\`$v[=\`]" README.md || { echo "$v is in the env table but not in README.md's environment table"; fail=1; }
done
[ $fail = 0 ] && echo "env table: $(echo "$table" | wc -l) variables, all read through core and documented"
exit $fail
