"""The parts of ``benchmarks/gpu_throughput.py`` (issue 22): clocks and GEMM ceilings
(:mod:`.timing`), training throughput through the sslcore trainer (:mod:`.training`), the
families (:mod:`.families`, :mod:`.graphs`, :mod:`.probe`), the acceptance table
(:mod:`.report`), the Markdown report (:mod:`.markdown`) and the offline install used on
the device machine (:mod:`.offline_dists`)."""
