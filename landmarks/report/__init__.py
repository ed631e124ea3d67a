"""Reports: tidy results, paper-vs-reproduced tables, figures."""
