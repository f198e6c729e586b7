"""Numerical tunables in one place."""

# fastmath without nnan/ninf: reassociation lets LLVM vectorise the dot products over
# topics, while NaN/inf checks stay meaningful for input validation and debugging.
FASTMATH_FLAGS = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Added to every phinorm so a word whose topic weights all underflow cannot divide by zero
# (Hoffman's onlineldavb and scikit-learn use 1e-100; float32 needs a representable one).
PHINORM_EPS = {"float64": 1e-100, "float32": 1e-30}

# The E-step's scaled inputs (exp(E[log beta]) rows and topic weights, each with maximum 1)
# are floored here: sqrt of the smallest normal number, so neither they nor any product of
# two of them is subnormal. Subnormal arithmetic is 10-100x slower on many x86 cores (a
# K=100 float32 pass over 20 Newsgroups ran 3.4x slower than float64 on an Intel Xeon).
# Values this small are below the dtype's precision of any term that matters (rows have
# maximum 1).
WORKING_FLOOR = {"float64": 1.5e-154, "float32": 1.1e-19}

# The lazy form lambda = eta + scale * W folds the scalar back into W when it gets this small,
# keeping W's entries well inside the dtype's range (rare: amortised O(K V)).
RESCALE_THRESHOLD = {"float64": 1e-30, "float32": 1e-8}

DEFAULT_DTYPE = "float64"
