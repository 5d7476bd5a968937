# s3ftpd make targets. The benchmark harness lives in bench/; its report is
# docs/benchmarks.md. Extra harness flags: make bench BENCHFLAGS='-peers=false'.

GO ?= go
BENCHFLAGS ?=

.PHONY: bench bench-short bench-long

# Full run: 1 GiB transfers, 10 000 idle sessions, a 100 000-object
# listing, peers; rewrites docs/benchmarks.md.
bench:
	$(GO) run ./bench -out docs/benchmarks.md $(BENCHFLAGS)

# Smoke mode: small sizes, well under 2 minutes, only Go needed.
bench-short:
	$(GO) run ./bench -short $(BENCHFLAGS)

# 10 GiB transfers and memory figure; rewrites docs/benchmarks.md.
bench-long:
	$(GO) run ./bench -long -out docs/benchmarks.md $(BENCHFLAGS)
