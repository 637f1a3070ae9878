"""``nnparity bench``: how fast each implementation trains, as a fraction of this machine's matmul peak."""
