//! The fuzz targets' bodies are `vmstate_test_support::fuzzing`'s, which the stable
//! test suite also runs over the seeds and every past finding.
