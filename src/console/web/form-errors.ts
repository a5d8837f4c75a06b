// Coded errors shown next to the fields they concern, in any of the console's forms.
import { ApiError, describe } from './api.js';

/** Shows each problem next to the element whose data-error-for is the longest prefix of its field; the rest at the form's own slot. */
export function showErrors(form: HTMLElement, error: unknown, fallbackField: string): void {
  const slots = [...form.querySelectorAll<HTMLElement>('[data-error-for]')];
  const problems = error instanceof ApiError && error.problems.length ? error.problems : [{ field: fallbackField, message: describe(error) }];
  for (const { field, message } of problems) {
    const slot =
      slots
        .filter((s) => field !== null && (field === s.dataset.errorFor || field.startsWith(`${s.dataset.errorFor}.`)))
        .sort((a, b) => b.dataset.errorFor!.length - a.dataset.errorFor!.length)[0] ?? slots.find((s) => s.dataset.errorFor === fallbackField);
    if (slot) slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
    const input = slot?.parentElement?.querySelector('input, select, textarea');
    input?.setAttribute('aria-invalid', 'true');
    if (input && slot) {
      slot.id ||= `${form.id}-error-${slot.dataset.errorFor!.replace(/[^A-Za-z0-9]/g, '-')}`;
      input.setAttribute('aria-describedby', [...slot.parentElement!.querySelectorAll('[data-error-for]')].map((s) => s.id).filter(Boolean).join(' '));
    }
  }
}

export function clearErrors(form: HTMLElement): void {
  for (const slot of form.querySelectorAll<HTMLElement>('[data-error-for]')) slot.textContent = '';
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}
