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
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case scores[a] < scores[b]:
			return -1
		case scores[a] > scores[b]:
			return 1
		}
		return 0
	})
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		midRank := float64(i+j+1) / 2 // 1-based average rank of the tie group
		for k := i; k < j; k++ {
			if labels[idx[k]] == 1 {
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
