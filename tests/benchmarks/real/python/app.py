"""The benchmark image's entry point: a tiny report that imports the stack it ships."""

import matplotlib
import numpy as np
import pandas as pd
import scipy

frame = pd.DataFrame({"x": np.arange(10), "y": np.arange(10) ** 2})
print(frame.describe())
print("numpy", np.__version__, "scipy", scipy.__version__, "matplotlib", matplotlib.__version__)
