"""Small utilities that every layer of skdeep may use; they import nothing else from skdeep.

One module per concern: ``files`` (output folders, atomic writes), ``optional`` (optional
dependencies), ``threads``, ``progress``, ``formatting``, ``reports``, ``device``, ``memory``,
``reprs``, ``tasks``, ``denormals`` (flushing denormal floats while a CPU fit trains).
"""
