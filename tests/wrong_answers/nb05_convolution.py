NOTEBOOK = "05_convolution"
WRONG = [
    dict(anchor="def correlate2d(image, kernel):",
         code="""
         kernel = kernel[::-1, ::-1]          # flipped: convolution, not cross-correlation
         kh, kw = kernel.shape
         return np.array([[np.sum(image[i:i + kh, j:j + kw] * kernel)
                           for j in range(image.shape[1] - kw + 1)]
                          for i in range(image.shape[0] - kh + 1)])
         """,
         expect=["❌ correlate2d", "flipped the kernel"]),
]
