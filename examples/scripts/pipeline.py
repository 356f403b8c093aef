"""The analysis pipeline's entry point: summarises a CSV file."""
import sys

import pandas as pd


def main() -> None:
    frame = pd.read_csv(sys.argv[1])
    print(frame.describe())


if __name__ == "__main__":
    main()
