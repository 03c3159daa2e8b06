package fl

import (
	"errors"
	"slices"
)

// AUC is the area under the ROC curve of scores against 0/1 labels: the
// probability that a random incident row scores above a random normal row,
// ties counting one half (the Mann–Whitney statistic).
func AUC(scores, labels []float64) (float64, error) {
	if len(scores) != len(labels) {
		return 0, errors.New("auc: scores and labels differ in length")
	}
	type scored struct{ score, label float64 }
	rows := make([]scored, len(scores))
	for i := range scores {
		rows[i] = scored{scores[i], labels[i]}
	}
	// Tied scores form one group whatever their order, so an unstable sort
	// gives the same result.
	slices.SortFunc(rows, func(a, b scored) int {
		switch {
		case a.score < b.score:
			return -1
		case a.score > b.score:
			return 1
		}
		return 0
	})
	var pos, neg, rankSum float64
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].score == rows[i].score {
			j++
		}
		midRank := float64(i+j+1) / 2 // 1-based average rank of the tie group
		for k := i; k < j; k++ {
			if rows[k].label == 1 {
				pos++
				rankSum += midRank
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return 0, ErrSingleClass
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg), nil
}

// F1 is the F1 score of predicting an incident when score >= threshold.
func F1(scores, labels []float64, threshold float64) float64 {
	var tp, fp, fn float64
	for i, s := range scores {
		predicted := s >= threshold
		actual := labels[i] == 1
		switch {
		case predicted && actual:
			tp++
		case predicted:
			fp++
		case actual:
			fn++
		}
	}
	if tp == 0 {
		return 0
	}
	return 2 * tp / (2*tp + fp + fn)
}
