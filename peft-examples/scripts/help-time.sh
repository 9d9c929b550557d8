#!/bin/bash
# Times `bin/peft4j --help` against `java -cp 'lib/*' <main> --help`, interleaved, N runs each; prints medians and the ratio.
cd "${1:-peft-examples/target/peft4j}" || exit 1; n=${2:-15}; a=(); b=()
for i in $(seq "$n"); do
  t0=$(date +%s%N); bin/peft4j --help >/dev/null; t1=$(date +%s%N)
  java -cp 'lib/*' io.peft4j.examples.cli.Peft4j --help >/dev/null; t2=$(date +%s%N)
  a+=($(( (t1-t0)/1000000 ))); b+=($(( (t2-t1)/1000000 )))
done
ma=$(printf '%s\n' "${a[@]}" | sort -n | sed -n "$(( (n+1)/2 ))p"); mb=$(printf '%s\n' "${b[@]}" | sort -n | sed -n "$(( (n+1)/2 ))p")
echo "median ms: bin/peft4j --help $ma, java -cp --help $mb, ratio $(echo "scale=3; $ma/$mb" | bc)"
