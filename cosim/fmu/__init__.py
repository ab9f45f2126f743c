"""FMU access: safe archive handling and one adapter per FMI version over fmpy."""
