// Selection and indexing: where, masked_fill, gather, index_select.
