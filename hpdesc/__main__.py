"""python -m hpdesc"""
from hpdesc.cli.main import main

main()
