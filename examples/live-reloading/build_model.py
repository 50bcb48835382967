"""Builds version N of the mpg estimator: a scikit-learn regressor (miles per gallon from cylinders,
displacement, horsepower, weight, acceleration), pickled as models/N/model.pkl.

    pip install scikit-learn
    python build_model.py 1          # models/1: LinearRegression
    python build_model.py 2          # models/2: Ridge(alpha=100)
    python build_model.py 3          # models/3: DecisionTreeRegressor(max_depth=3)

Each version is a different estimator so their answers differ. The model file is written to a hidden
temporary folder first and then renamed into place (the folder when the version is new, the file when
it is rebuilt), so `cortex serve`, which looks for new and changed versions every
`model_poll_interval`, never sees a half-written version.
"""
import os
import pickle
import shutil
import sys

from sklearn.linear_model import LinearRegression, Ridge
from sklearn.tree import DecisionTreeRegressor

# mpg, cylinders, displacement, horsepower, weight, acceleration: a small sample of 1970s cars in the
# style of the UCI Auto MPG data set (embedded so nothing is downloaded)
CARS = [
    (18.0, 8, 307.0, 130.0, 3504, 12.0), (15.0, 8, 350.0, 165.0, 3693, 11.5),
    (18.0, 8, 318.0, 150.0, 3436, 11.0), (16.0, 8, 304.0, 150.0, 3433, 12.0),
    (17.0, 8, 302.0, 140.0, 3449, 10.5), (15.0, 8, 429.0, 198.0, 4341, 10.0),
    (14.0, 8, 454.0, 220.0, 4354, 9.0), (14.0, 8, 440.0, 215.0, 4312, 8.5),
    (24.0, 4, 113.0, 95.0, 2372, 15.0), (22.0, 6, 198.0, 95.0, 2833, 15.5),
    (18.0, 6, 199.0, 97.0, 2774, 15.5), (21.0, 6, 200.0, 85.0, 2587, 16.0),
    (27.0, 4, 97.0, 88.0, 2130, 14.5), (26.0, 4, 97.0, 46.0, 1835, 20.5),
    (25.0, 4, 110.0, 87.0, 2672, 17.5), (24.0, 4, 107.0, 90.0, 2430, 14.5),
    (25.0, 4, 104.0, 95.0, 2375, 17.5), (26.0, 4, 121.0, 113.0, 2234, 12.5),
    (21.0, 6, 199.0, 90.0, 2648, 15.0), (10.0, 8, 360.0, 215.0, 4615, 14.0),
    (28.0, 4, 140.0, 90.0, 2264, 15.5), (31.0, 4, 71.0, 65.0, 1773, 19.0),
    (35.0, 4, 72.0, 69.0, 1613, 18.0), (27.0, 4, 97.0, 60.0, 1834, 19.0),
    (13.0, 8, 400.0, 170.0, 4746, 12.0), (19.0, 6, 232.0, 100.0, 2634, 13.0),
    (29.0, 4, 98.0, 83.0, 2219, 16.5), (32.0, 4, 85.0, 70.0, 1990, 17.0),
]

ESTIMATORS = {
    1: lambda: LinearRegression(),
    2: lambda: Ridge(alpha=100.0),
    3: lambda: DecisionTreeRegressor(max_depth=3, random_state=0),
}


def main(version, models_dir):
    if version not in ESTIMATORS:
        sys.exit(f"usage: python build_model.py {{{','.join(map(str, ESTIMATORS))}}} [MODELS_DIR]")
    model = ESTIMATORS[version]()
    model.fit([list(car[1:]) for car in CARS], [car[0] for car in CARS])

    final = os.path.join(models_dir, str(version))
    staging = os.path.join(models_dir, f".{version}.tmp")  # hidden: never taken for a version
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    with open(os.path.join(staging, "model.pkl"), "wb") as f:
        pickle.dump(model, f)
    if os.path.isdir(final):  # rebuilding: swap the file in place (a rename is atomic)
        os.replace(os.path.join(staging, "model.pkl"), os.path.join(final, "model.pkl"))
        os.rmdir(staging)
    else:
        os.rename(staging, final)
    print(f"wrote {final}/model.pkl ({type(model).__name__})")


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 0, sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "models"))
