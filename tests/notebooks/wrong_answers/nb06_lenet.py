NOTEBOOK = "06_lenet"
WRONG = [
    dict(anchor="def build_lenet5(",
         code="""
         layers = keras.layers
         return keras.Sequential([          # the right sizes, but no hidden activation at all
             keras.Input(shape=input_shape),
             layers.Conv2D(6, 5, name="C1"),
             layers.MaxPooling2D(2, name="S2"),
             layers.Conv2D(16, 5, name="C3"),
             layers.MaxPooling2D(2, name="S4"),
             layers.Conv2D(120, 5, name="C5"),
             layers.Flatten(name="flatten"),
             layers.Dense(84, name="F6"),
             layers.Dense(n_classes, activation="softmax", name="output"),
         ], name="lenet5")
         """,
         expect=["❌ build_lenet5", "hidden layers have no activation"]),
]
