"""Runs an ONNX file exported by `distill export --onnx` in onnxruntime and compares its output
with the one distill computed.

    python python/check_onnx.py MODEL.onnx CHECK.json

CHECK.json: {"inputs": [N][C][H][W] normalised pixels, "outputs": [N][K] expected values}.
Prints the largest absolute difference; exits 1 if any element differs by more than
1e-4 * (1 + |expected|), 2 on unusable input.
"""

import json
import sys

import numpy as np


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime is not installed (pip install onnxruntime)")
        return 2
    with open(sys.argv[2]) as f:
        check = json.load(f)
    x = np.asarray(check["inputs"], dtype=np.float32)
    want = np.asarray(check["outputs"], dtype=np.float32)
    session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    if got.shape != want.shape:
        print(f"output shape {got.shape}, expected {want.shape}")
        return 1
    diff = np.abs(got - want)
    print(f"onnxruntime {ort.__version__}: max |onnxruntime - distill| = {diff.max():.3e}")
    return 0 if bool((diff <= 1e-4 * (1 + np.abs(want))).all()) else 1


if __name__ == "__main__":
    sys.exit(main())
